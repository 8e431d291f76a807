# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv when missing.
# `make fuzz` runs the fuzz harness (tests/test_fuzz_*.py) with a long budget: FUZZ_EXAMPLES inputs per property
# (`make test` runs the short one); it ends with, per parser, the inputs tried and the unexpected exceptions.
# `make wheel` builds dist/venclient-*.whl to install elsewhere (config/venclient.service shows where).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FUZZ_EXAMPLES ?= 3000

.PHONY: demo test fuzz bench install wheel clean

$(VENV)/.installed-app: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-app tests/plugins/venclient_example/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,postgres]' -e tests/plugins/venclient_example
	touch $@

install: $(VENV)/.installed-app

demo: $(VENV)/.installed-app
	$(BIN)/ven demo

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -p no:cacheprovider

fuzz: $(VENV)/.installed-test
	VEN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/test_fuzz_payloads.py tests/test_fuzz_files.py tests/test_openadr_property.py

wheel: $(VENV)/.installed-app
	$(BIN)/python -m pip wheel --no-deps --quiet -w dist .
	@ls dist/venclient-*.whl

bench: $(VENV)/.installed-test
	for b in tests/benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist config/resources.db* config/examplemeterdata config/local_vtn.json
