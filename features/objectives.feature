@trade @clickhouse @process
Feature: The objectives of the seed (§1) under combined faults
  Several faults at once: the broker executes orders but loses the answers,
  ClickHouse is down, and the EA is killed in the middle of it. Afterwards
  every objective of §1 is judged: tick loss live at the consumer (the tick
  steps' check), the others over the recorded history by the report's own
  checkers; one that cannot be judged counts as not met.

  Background:
    Given the EA runtime is trading

  Scenario: Broker timeouts after execution, ClickHouse down and an EA kill at once
    When the broker times out after executing 50% of orders, ClickHouse is down and the EA is killed
    Then no tick was lost
    And every objective of the seed holds:
      | no order loss                           |
      | no duplicated order                     |
      | no orphaned trade                       |
      | Redis, DuckDB and ClickHouse consistent |
