@config
Feature: Configuration Data fault tolerance (seed §2.1)
  The JSON config is validated at start. A corrupted file is restored from its
  last-good backup, and the runtime says so; it never starts silently on defaults.

  Background:
    Given the EA runtime is trading

  Scenario: A corrupted config file is restored from its backup
    When the EA config file is corrupted and the EA restarts
    Then the config is restored from its last-good backup and the user is told
    And the EA is ready again
    And no order was lost or duplicated

  Scenario: A config that parses but does not match the schema is restored from its backup
    When the EA config file is replaced by one that parses but does not match the schema and the EA restarts
    Then the config is restored from its last-good backup and the user is told
    And the user was told which field did not match
    And the EA is ready again
    And no order was lost or duplicated
