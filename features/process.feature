@process
Feature: EA Process fault tolerance (seed §3.6, §4 "EA Restart Test")
  The EA runs under a supervisor (a Windows service or systemd unit in
  production). A crashed EA is restarted at once; consecutive restarts are 1 s
  apart, and after 3 restarts within the 30 s cooldown window the supervisor
  stops the EA and alerts the user.

  Background:
    Given the EA runtime is trading

  Scenario: EA restart test: a crashed EA is restarted within 1 s
    When the EA process is killed
    Then the EA process is restarted and ready within 1 s
    And no order was lost or duplicated
    And no trade is orphaned

  @ea-stopped
  Scenario: An EA that keeps crashing is stopped and the user is alerted
    When the EA process is killed 4 times within the cooldown window
    Then the supervisor stops the EA process and alerts the user
    And no order was duplicated
