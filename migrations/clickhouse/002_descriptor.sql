-- What tells apart fields of one variable, level and period (ensemble member, probability,
-- chemical constituent, aerosol type, size and wavelength), worded as wgrib2 inventories do.
ALTER TABLE grid_data ADD COLUMN IF NOT EXISTS descriptor LowCardinality(String) DEFAULT ''
    COMMENT 'product-definition descriptors, e.g. chemical=Ozone, empty for plain fields'
    AFTER forecast
