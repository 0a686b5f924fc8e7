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
