@redis
Feature: Redis State fault tolerance (seed §3.3, §4 "Redis Failover Test")
  Redis holds the trade state (RTS) and the instance registry (RIS). Sentinel
  watches it; when the master fails, Sentinel promotes a new master and every
  EA instance switches to it.

  Background:
    Given the EA runtime is trading

  Scenario: Redis failover test: Sentinel promotes a new master
    When the Redis master is killed
    Then a new master is serving writes within 3 s
    And no order was lost or duplicated
    And no trade is orphaned

  Scenario: A hung Redis master is replaced like a dead one
    When the Redis master hangs
    Then a new master is serving writes within 3 s
    And no order was lost or duplicated

  Scenario: Redis unavailable: trade state is kept in DuckDB and Redis is resynced after recovery
    When Redis is unreachable for 10 s
    Then the runtime engages its Redis fallback and keeps trade state in DuckDB
    And Redis is resynced from DuckDB within 3 s of Redis coming back
    And no order was lost or duplicated
