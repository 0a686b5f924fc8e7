@trade
Feature: Trade Execution failover to a backup access point (seed §2.1)
  "Retry with backoff and failover to secondary": like an MT5 terminal with
  backup access servers, the runtime knows more than one endpoint of its
  broker. When the primary's circuit breaker opens it fails over to the next
  endpoint, reconciles orders whose answer was lost there (never resending
  them blindly), and returns to the primary when its health probe sees it back.

  Background:
    Given the EA runtime is trading with a backup broker access point

  Scenario: The primary broker access point goes down and orders go through the backup
    When the primary broker access point is down
    Then orders are confirmed through the backup access point within 1 s
    When the primary broker access point comes back
    Then the EA returns to the primary access point and trades there
    And no order was lost or duplicated
    And no trade is orphaned
