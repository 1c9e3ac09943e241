-- The store derives what a shred no longer carries (gridflow.rows): the valid time from the
-- reference time and lead, the 1-degree cell from the point. Metadata only: no part is rewritten.
ALTER TABLE grid_data MODIFY COLUMN valid_time DateTime('UTC')
    DEFAULT ref_time + toIntervalMinute(step)
    COMMENT 'ref_time + step';
ALTER TABLE grid_data MODIFY COLUMN cell UInt32
    DEFAULT toUInt32(least(greatest(floor(lat + 90), 0), 179)) * 360
        + toUInt32(modulo(floor(lon + 180), 360))
    COMMENT '1-degree cell: (floor(lat) + 90) * 360 + floor(lon) + 180'
