-- The store derives what a shred no longer carries (gridflow.rows): the valid time from the
-- reference time and lead, the 1-degree cell from the point.
-- Codecs chosen by bench/store_size.py on real samples (bytes per value, LZ4 -> these): sorted
-- coordinates delta-encode (lat 1.34 -> 0.46, lon 1.51 -> 0.77 where each point is stored
-- once), the cell is a slow ramp (0.73 -> 0.01). Values are Delta then ZSTD: within the sort
-- key they run along each point's series, and Delta on the float bits beat plain ZSTD there
-- (ERA5 hourly 2.70 -> 2.31; Gorilla 2.26 and FPC 2.19 lost on whole fields and profiles).
-- Metadata only: old parts take the codecs when they merge.
ALTER TABLE grid_data MODIFY COLUMN ref_time DateTime('UTC') CODEC(Delta, ZSTD(1));
ALTER TABLE grid_data MODIFY COLUMN step Int32 CODEC(Delta, ZSTD(1))
    COMMENT 'lead time in minutes (the end of the period for accumulations)';
ALTER TABLE grid_data MODIFY COLUMN valid_time DateTime('UTC')
    DEFAULT ref_time + toIntervalMinute(step) CODEC(Delta, ZSTD(1))
    COMMENT 'ref_time + step';
ALTER TABLE grid_data MODIFY COLUMN lat Float32 CODEC(Delta, ZSTD(3));
ALTER TABLE grid_data MODIFY COLUMN lon Float32 CODEC(Delta, ZSTD(3))
    COMMENT 'degrees east in [-180, 180)';
ALTER TABLE grid_data MODIFY COLUMN cell UInt32
    DEFAULT toUInt32(least(greatest(floor(lat + 90), 0), 179)) * 360
        + toUInt32(modulo(floor(lon + 180), 360))
    CODEC(DoubleDelta, ZSTD(1))
    COMMENT '1-degree cell: (floor(lat) + 90) * 360 + floor(lon) + 180';
ALTER TABLE grid_data MODIFY COLUMN value Nullable(Float32) CODEC(Delta, ZSTD(3))
    COMMENT 'NULL where the source marks the point missing'
