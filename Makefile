# Every target installs what it needs into the virtualenv at .venv first.
VENV   := .venv
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv test demo clean

# uv installs the pinned set in about 20 s where pip takes about 75 s (it unpacks the wheels in
# parallel); pip does it where uv cannot be installed or fails. Both install the same pins.
$(STAMP): requirements.txt setup.py
	python3 -m venv $(VENV)
	( $(PYTHON) -m pip install --quiet uv==0.13.9 && $(VENV)/bin/uv pip install --quiet --python $(PYTHON) -r requirements.txt ) \
	  || $(PYTHON) -m pip install --quiet -r requirements.txt
	$(PYTHON) -m pip install --quiet -e .
	touch $(STAMP)

venv: $(STAMP)

# pytest-xdist spreads the tests over the CPUs (-n auto; an idle worker takes tests queued for
# another, so a slow file does not keep one CPU busy alone).
test: $(STAMP)
	$(PYTHON) -m pytest -q -n auto --dist worksteal --doctest-modules tests tf_wsoftmax
	KERAS_BACKEND=jax $(PYTHON) -m pytest -q -n auto --dist worksteal -m backend_neutral --doctest-modules tests \
	  tf_wsoftmax/ops tf_wsoftmax/layers tf_wsoftmax/losses tf_wsoftmax/distribution.py

demo: $(STAMP)
	$(VENV)/bin/tf-wsoftmax demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
