@session @redis
Feature: Session State fault tolerance (seed §3.7, §4 "Session State Test")
  The session lives in Redis. On a Redis failure the runtime reconnects every
  2 s; after 5 failed attempts it starts a new session.

  Background:
    Given the EA runtime is trading

  Scenario: A short Redis outage: the session reconnects
    When Redis is unreachable for 4 s
    Then the session is recovered within 3 s of Redis coming back
    And no order was lost or duplicated

  Scenario: Session state test: a long Redis outage starts a new session
    When Redis is unreachable for 14 s
    Then the session is recovered within 3 s of Redis coming back
    And a new session was started
    And no order was lost or duplicated
