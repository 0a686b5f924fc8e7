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
