# gridflow: `make demo` (set up + run offline), `make test` (set up + tests), `make bench`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

DEMO_NOW ?= 2025-03-12T12:00:00Z
DEMO_DIR ?= demo-data
DEMO_CONFIG := $(DEMO_DIR)/demo.yaml
SNAKEMAKE_TIMEOUT ?= 1800
# the demo's stand-in Copernicus ADS (devkit/ads_standin.py) and the key it accepts
DEMO_ADS_PORT ?= 18765
DEMO_ADS_KEY := ads-test-key-0123
# the demo's stand-in NASA Harmony and Earthdata Login (devkit/harmony_standin.py), its login
DEMO_HARMONY_PORT ?= 18766
DEMO_EARTHDATA := EARTHDATA_USERNAME=gridflow EARTHDATA_PASSWORD=earthdata-test-password
# the demo's stand-in MCFCD web server (devkit/mcfcd_standin.py) with the real gauge records
DEMO_MCFCD_PORT ?= 18767
# the demo runs on the local executor: SLURM's clients, if installed, get an empty configuration
# so that the SLURM plugin's scontrol at each Snakemake start fails at once (README, profiles)
LOCAL_EXECUTOR := SLURM_CONF=/dev/null

.PHONY: setup demo test lint bench bench-purge bench-keep-up clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(DEMO_CONFIG): | setup
	$(BIN)/python -m devkit.demo --out $(DEMO_DIR)/mirror --now $(DEMO_NOW) \
	  --config-out $(DEMO_CONFIG) --data-root $(DEMO_DIR)/data \
	  --ads-url http://127.0.0.1:$(DEMO_ADS_PORT)/api \
	  --harmony-url http://127.0.0.1:$(DEMO_HARMONY_PORT) \
	  --mcfcd-url http://127.0.0.1:$(DEMO_MCFCD_PORT) --metrics

demo: setup $(DEMO_CONFIG)
	$(BIN)/python -m devkit.ads_standin --port $(DEMO_ADS_PORT) --result grib=samples/chem-cams.grib \
	  --result netcdf=samples/test_adaptor.cams_regional_fc.nc \
	  --result reanalysis-era5-single-levels=samples/era5-2mt-2019-03-uk-week1.grib \
	  > $(DEMO_DIR)/ads.log 2>&1 & ads=$$!; \
	  $(BIN)/python -m devkit.harmony_standin --port $(DEMO_HARMONY_PORT) \
	  --file samples/tempo_vcd_troposphere_utm11_clipped.tif > $(DEMO_DIR)/harmony.log 2>&1 & \
	  harmony=$$!; $(BIN)/python -m devkit.mcfcd_standin --port $(DEMO_MCFCD_PORT) \
	  > $(DEMO_DIR)/mcfcd.log 2>&1 & mcfcd=$$!; trap "kill $$ads $$harmony $$mcfcd" EXIT; \
	  for i in 1 2 3 4 5 6 7 8 9 10; do grep -q "stand-in ADS" $(DEMO_DIR)/ads.log && \
	  grep -q "stand-in Harmony" $(DEMO_DIR)/harmony.log && \
	  grep -q "stand-in MCFCD" $(DEMO_DIR)/mcfcd.log && break; sleep 0.5; done; \
	  ADS_API_KEY=$(DEMO_ADS_KEY) $(DEMO_EARTHDATA) $(LOCAL_EXECUTOR) timeout -s INT \
	  $(SNAKEMAKE_TIMEOUT) snakemake --configfile $(DEMO_CONFIG) && \
	  $(LOCAL_EXECUTOR) timeout -s INT $(SNAKEMAKE_TIMEOUT) snakemake \
	  --configfile $(DEMO_DIR)/demo-gauges.yaml
	@echo "== status of every source (gridflow status), metrics in $(DEMO_DIR)/metrics.prom:"
	gridflow status --configfile $(DEMO_CONFIG)
	gridflow report --configfile $(DEMO_CONFIG) --out $(DEMO_DIR)/report.html --source gfs \
	  --variable TMP --level "2 m above ground"
	@echo "== GFS 2 m temperature at Berlin (52.52N 13.40E), every loaded run:"
	gridflow point --configfile $(DEMO_CONFIG) --source gfs --variable TMP \
	  --level "2 m above ground" --lat 52.52 --lon 13.40
	@echo "== newest GOES-16 rain rate near Manaus (3.1S 60.0W), mm/h:"
	gridflow latest --configfile $(DEMO_CONFIG) --source goes16 --variable RRQPE \
	  --level surface --lat -3.1 --lon -60.0
	@echo "== newest MRMS reflectivity at Phoenix (33.45N 112.07W), dBZ (null: no echo data):"
	gridflow latest --configfile $(DEMO_CONFIG) --source mrms \
	  --variable ReflectivityAtLowestAltitude --level "500 m above mean sea level" \
	  --lat 33.45 --lon -112.07
	@echo "== CAMS European PM10 analysis at Brighton (50.82N 0.14W), ug/m3, through an ADS job:"
	gridflow point --configfile $(DEMO_CONFIG) --source cams_europe --variable pm10_conc \
	  --level "0 m above ground" --lat 50.82 --lon -0.14
	@echo "== CAMS ozone mass mixing ratio near Paris (48.86N 2.35E), kg/kg, through an ADS job:"
	gridflow point --configfile $(DEMO_CONFIG) --source cams_global --variable MASSMR \
	  --level "1 hybrid level" --descriptor "chemical=Ozone" --lat 48.86 --lon 2.35
	@echo "== ERA5 2 m temperature at London (51.50N 0.12W), K, hourly for a week through a CDS job"
	@echo "   (first and last hours; the whole week drawn in $(DEMO_DIR)/era5-london.png):"
	gridflow point --configfile $(DEMO_CONFIG) --source era5 --variable TMP \
	  --level "2 m above ground" --lat 51.50 --lon -0.12 --plot $(DEMO_DIR)/era5-london.png \
	  > $(DEMO_DIR)/era5-london.jsonl && sed -n '1,3p;166,168p' $(DEMO_DIR)/era5-london.jsonl
	@echo "== TEMPO tropospheric NO2 column at Los Angeles (34.05N 118.25W), molecules/cm2, via Harmony:"
	gridflow latest --configfile $(DEMO_CONFIG) --source tempo \
	  --variable vertical_column_troposphere --level troposphere --lat 34.05 --lon -118.25
	@echo "== MCFCD rain gauge nearest Scottsdale (33.61N 111.87W), inches per Arizona day, Jan 2023:"
	gridflow point --configfile $(DEMO_DIR)/demo-gauges.yaml --source mcfcd \
	  --lat 33.61 --lon -111.87 --start 2023-01-14 --end 2023-01-17
	@echo "== and MRMS radar at that gauge (the demo's MRMS scans are of 2025-03-12):"
	gridflow latest --configfile $(DEMO_CONFIG) --source mrms \
	  --variable ReflectivityAtLowestAltitude --level "500 m above mean sea level" \
	  --lat 33.61006 --lon -111.86545

test: setup
	scripts/ensure-postgis
	scripts/ensure-slurm
	scripts/ensure-chromium
	scripts/ensure-promtool
	scripts/ensure-gdal
	$(BIN)/pytest

lint: setup
	ruff check src tests bench devkit
	ruff format --check src tests bench devkit
	snakefmt --check Snakefile workflow/rules
	snakemake --lint --configfile tests/lint-config.yaml

bench: setup
	$(BIN)/python -m bench

bench-purge: setup
	$(BIN)/python -m bench.purge_simulation 30

# a whole simulated hour of GFS, HRRR, GOES-19 and MRMS publication (python -m bench.keep_up
# alone publishes one file in 6 and scales)
bench-keep-up: setup
	$(BIN)/python -m bench.keep_up --thin 1

clean:
	rm -rf $(DEMO_DIR) .snakemake
