@trade
Feature: Trade Execution fault tolerance (seed §3.1)
  Orders are retried by retcode class with a 1-2-4-8-16 s backoff, parked in
  failed_syncs after 5 failures, and never sent twice: an order whose outcome
  is unknown is reconciled with the broker, not blindly resent.

  Background:
    Given the EA runtime is trading

  Scenario: The broker connection fails and orders go through as soon as it is back
    When the broker is unreachable for 3 s
    Then orders are confirmed within 1 s of the broker coming back
    And no order was lost or duplicated
    And no trade is orphaned

  Scenario: The broker executes orders but the answers are lost
    When the broker times out after executing 50% of orders for 2 s
    Then every order whose outcome was unknown is reconciled with the broker
    And no order was lost or duplicated
    And no trade is orphaned

  Scenario: Requotes are re-priced and resent
    When the broker rejects 50% of orders as requotes for 2 s
    Then no order was lost or duplicated

  Scenario: An order with an invalid volume is never sent and the user is notified
    When an order with an invalid volume is submitted
    Then the user is notified at once and the order never reaches the broker

  Scenario: An order that fails 5 times is parked in failed_syncs and retried every 30 s until the broker accepts it
    When the broker refuses every order as off quotes until an order has had 2 failed_syncs rounds
    Then the order was saved in DuckDB's failed_syncs table after 5 failed attempts
    And its sends were spaced by the seed's backoff, then by the failed_syncs period, within 50%
    And the parked order is confirmed within one failed_syncs period of the broker accepting again
    And no order was lost or duplicated

  Scenario: The EA is killed while an order is parked in failed_syncs
    When the EA is killed while an order is parked in failed_syncs
    Then after the restart the order resumes its failed_syncs rounds instead of restarting its backoff
    When the broker accepts orders again
    Then the parked order is confirmed within one failed_syncs period of the broker accepting again
    And no order was lost or duplicated
    And no trade is orphaned
