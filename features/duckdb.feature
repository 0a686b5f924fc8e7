@duckdb
Feature: DuckDB fault tolerance (seed §3.4)
  DuckDB runs with its WAL on (checkpoint at 256 MB) and backs the trade-state
  tables up every 500 ms. After a restart it recovers from the WAL; a corrupted
  WAL or database is restored from the last backup.

  Background:
    Given the EA runtime is trading

  Scenario: A corrupted WAL is restored from the last backup
    When the DuckDB WAL is corrupted and the EA restarts
    Then DuckDB is restored and the EA is ready within 3 s
    And no order was lost or duplicated

  Scenario: A corrupted database file is restored from the last backup
    When the DuckDB database file is corrupted and the EA restarts
    Then DuckDB is restored and the EA is ready within 3 s
    And no order was lost or duplicated

  Scenario: The DuckDB file is locked by another process when the EA restarts
    When another process holds the DuckDB file lock while the EA restarts
    Then the EA reports the locked file clearly and retries at most 20 times
    When the other process releases the lock
    Then the EA is ready within 3 s of the lock being released, without a restart loop
    And no order was lost or duplicated

  Scenario: The database and its backup are both corrupted and DuckDB is recreated from Redis and ClickHouse
    When the DuckDB database file and its backup are both corrupted and the EA restarts
    Then DuckDB is recreated from the Redis and ClickHouse state
    And no order was lost or duplicated
    And no trade is orphaned
