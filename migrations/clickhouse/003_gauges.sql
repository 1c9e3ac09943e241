-- Rain-gauge observations: one row per gauge and Arizona day (kind daily) or per reading of the
-- live page (kind increment). A load replaces what its file covers, so a gauge and day has one
-- value whichever record (workbook, PDF, period of record) loaded it last.
CREATE TABLE IF NOT EXISTS gauge_observations
(
    source LowCardinality(String),
    gauge UInt32 COMMENT 'MCFCD gauge id (the current one, after any renumbering)',
    kind LowCardinality(String) COMMENT 'daily or increment',
    day Date COMMENT 'the Arizona calendar day',
    time DateTime('UTC') COMMENT 'the end of the day (daily) or the reading (increment), UTC',
    inches Nullable(Float32) COMMENT 'NULL where the record has no value (outage, not reported)',
    flags LowCardinality(String) COMMENT 'outage, footnote=N, estimated, annual_total_differs',
    origin LowCardinality(String) COMMENT 'water_year_workbook, monthly_pdf, fopr, alert_page',
    raw_file_id LowCardinality(String),
    raw_key LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY (source, toYear(time))
ORDER BY (source, gauge, kind, time);

-- Gauge metadata from the period-of-record workbooks, the newest row of a gauge kept.
CREATE TABLE IF NOT EXISTS gauges
(
    source LowCardinality(String),
    gauge UInt32,
    name String,
    former_ids Array(UInt32) COMMENT 'ids the gauge had before a renumbering',
    lat Float64,
    lon Float64,
    elevation_ft Nullable(Float64),
    city String,
    location String,
    station_type String,
    remarks String,
    updated DateTime('UTC'),
    raw_file_id String
)
ENGINE = ReplacingMergeTree(updated)
ORDER BY (source, gauge);
