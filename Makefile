# The two commands a new user needs: `make book` and `make test`. Every target sets up what it needs.
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= smoke
FORCE   ?=
FORCE_FLAG := $(if $(FORCE),--force,)
NPROC   ?= 1
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: setup book test lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; assert sys.version_info >= (3, 11), 'Python >= 3.11 is needed, found ' + sys.version.split()[0]"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

# Execute every chapter with papermill under $(PROFILE) (default: the embedded, offline `smoke`) and build the HTML book;
# FORCE=1 recomputes every record instead of re-using stored ones; NPROC=N trains on N processes (one per GPU).
book: setup
	$(BIN)/replicate book --profile $(PROFILE) --nproc $(NPROC) $(FORCE_FLAG)

# The linter, unit tests, nbval over every notebook under `smoke`, and a book build check (fresh temporary results).
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# JupyterLab on the project's kernel; a notebook opened there runs top to bottom with its default parameters.
lab: setup
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf _build book/executed
