"""Rain gauges (point observations, not grids): readers of the Flood Control District of
Maricopa County's records, each returning `Readings` checked against the file's own totals.

Times: MCFCD works in Arizona time (MST, UTC-7 all year, no daylight saving). A daily value
belongs to an Arizona calendar day (`day`); its `time` is the end of that day in UTC. A reading
of the live ALERT page is at its Arizona timestamp, converted to UTC.
"""
