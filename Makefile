# Development entry points. Needs only python3 (with venv/ensurepip) and make: everything
# else is installed into .venv from requirements.txt.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
# Holds the hash of the files that decide what gets installed; a mismatch triggers a reinstall.
STAMP := $(VENV)/.defeat_ros-installed
STAMP_INPUTS := requirements.txt setup.py
PIP_VERSION := 26.3
PIP_INSTALL := $(VENV_PY) -m pip install --progress-bar off

.PHONY: venv test demo clean distclean

venv:
	@set -e; \
	want=$$(cat $(STAMP_INPUTS) | sha256sum | cut -d' ' -f1); \
	if $(VENV_PY) -c '' 2>/dev/null && [ "$$(cat $(STAMP) 2>/dev/null)" = "$$want" ]; then \
		echo "$(VENV) is up to date"; \
		exit 0; \
	fi; \
	if ! $(VENV_PY) -c '' 2>/dev/null; then \
		$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
			{ echo "$(PYTHON) is older than 3.11, which the pinned requirements need" >&2; exit 1; }; \
		echo "Creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv --clear $(VENV); \
	fi; \
	rm -f $(STAMP); \
	$(PIP_INSTALL) pip==$(PIP_VERSION); \
	$(PIP_INSTALL) -r requirements.txt; \
	$(PIP_INSTALL) --no-deps --no-build-isolation -e .; \
	echo "$$want" > $(STAMP); \
	echo "$(VENV) is ready"

# Tests that run ROS graphs in-process (marker ros_graph) get a pytest process of their own.
test: venv
	$(VENV_PY) -m pytest test -q -rs -m 'not ros_graph'
	$(VENV_PY) -m pytest test -q -rs -m ros_graph

demo: venv
	$(VENV)/bin/defeat-ros demo --out demo_output

clean:
	rm -rf build install log demo_output .pytest_cache *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
