# Two commands do all the set-up:  `make report`  and  `make test`.
# Both create .venv and install into it on first use; a rerun reinstalls nothing
# unless requirements.txt or pyproject.toml changed.

PYTHON  ?=   # the Python that creates .venv (default: the newest python3.X >= 3.11 on PATH)
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
KERNEL  := ucf101

PROFILE ?= demo
DATA    ?=
SPLITS  ?=
# SPLIT: 1, 2, 3; `all` or a list such as 1,3 runs each split, then the summary
SPLIT   ?= 1
RUNS    ?=   # make summary RUNS="runs/a runs/b runs/c": the run folders, one per split
PROTOCOL ?=   # holdout or refit (default: the profile's; runs go to runs/<profile>-<protocol>)
GPUS    ?=   # GPUS=4: train and evaluate under torchrun, one process per GPU (per node under SLURM)
DOWNLOAD_WEIGHTS ?=
SMOKE   ?=   # SMOKE=1: a few steps on a few videos of DATA at the real sizes, then a forecast
WEIGHTS ?=   # the clip model's Kinetics file (default data/weights/r3d50_K_200ep.pth)
IMAGENET_WEIGHTS ?=
NORM    ?=
STORES  ?=
RUN     ?=
CPU     ?=   # CPU=1: run the ucf101 profile on the CPU on purpose (else it stops without a GPU)
BATCH   ?=   # global batch: 64 (both models) or frame=128,clip=32
ACCUM   ?=   # micro-batches per step: the same batch in less GPU memory
AMP     ?=   # AMP=0: fp32 on the GPU instead of bf16 autocast
PDF     ?=   # PDF=0: compute everything, render the PDF later (make pdf RUN=...)
KINETICS ?=   # make fetch: URL or path of r3d50_K_200ep.pth
VIDEOS  ?=   # make fetch VIDEOS=1: UCF-101 itself too (6.5 GB)
PYTEST_ARGS ?=
PRACTICE ?=   # PRACTICE=1: let `make submission` zip a demo, smoke or fast report on purpose
LAB_ARGS ?=   # e.g. LAB_ARGS="--no-browser --port 8888 --ip 0.0.0.0" on a GPU node
PORT    ?=   # make tensorboard PORT=6007 (default: 6006 + your uid % 1000, on localhost)
TORCH_CUDA ?=   # make venv|fetch TORCH_CUDA=auto|cu126|cu128|cu130|cpu: the torch build for the driver
WORKERS ?=   # data loader workers per process (default: the allocation's CPUs shared out)
# pip keeps no cache in $HOME (a small quota on clusters) unless PIP_CACHE_DIR names a place
ifeq ($(origin PIP_CACHE_DIR),undefined)
export PIP_NO_CACHE_DIR := 1
endif
TB_PORT = $(or $(strip $(PORT)),$(shell echo $$(( 6006 + $$(id -u) % 1000 ))))
TORCH_BUILD = $(if $(strip $(TORCH_CUDA)),$(PY) -m helpers torch-build --cuda $(strip $(TORCH_CUDA)) --run)

.PHONY: help venv system-deps fetch report summary pdf test test-all test-fast lint lab tensorboard submission clean

help:
	@echo "make report      run the main job (synthetic demo by default) and render report/report.pdf"
	@echo "                 real data: make report PROFILE=ucf101 DATA=/folder/holding/UCF-101 [WEIGHTS=...]"
	@echo "                 out of GPU memory: ACCUM=2 (same batch, half the memory per step)"
	@echo "                 check it first: make report PROFILE=ucf101 DATA=... SMOKE=1"
	@echo "                 several GPUs: make report ... GPUS=4 (torchrun, one process per GPU)"
	@echo "                 all three splits, then report/summary.pdf: make report SPLIT=all"
	@echo "make summary     the splits side by side (report/summary.pdf) from finished runs (RUNS=...)"
	@echo "make fetch       on a login node: .venv, split files, ImageNet + Kinetics weights"
	@echo "                 (KINETICS=URL|PATH for r3d50_K_200ep.pth; VIDEOS=1 for UCF-101 itself;"
	@echo "                 TORCH_CUDA=auto|cu126|cu128|cu130|cpu: torch for the driver; PYTHON=python3.11)"
	@echo "make test        the quick test tier (a few minutes): checks the install"
	@echo "make test-all    every test, the slow end-to-end ones included (what CI runs)"
	@echo "make lab         start JupyterLab with the project's kernel ($(KERNEL))"
	@echo "make pdf RUN=d   render the PDF of a finished run folder (a login node: no GPU, no data)"
	@echo "make tensorboard TensorBoard on the runs' curves on localhost:$(TB_PORT) (RUN=runs/ucf101);"
	@echo "                 from your laptop: ssh -L $(TB_PORT):localhost:$(TB_PORT) you@<node>"
	@echo "make submission  write the turn-in zip (report.pdf + code; SPLIT=k hands in split k)"
	@echo "make lint        ruff"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || { base=$$($(SHELL) scripts/find-python.sh $(PYTHON)) && \
		echo "creating $(VENV) with $$base" && $$base -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(TORCH_BUILD)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "UCF-101 (project .venv)" >/dev/null
	touch $@

venv: $(STAMP)
	$(TORCH_BUILD)

# Everything that needs the internet, for compute nodes without it.
fetch: $(STAMP)
	$(TORCH_BUILD)
	$(PY) -m helpers fetch $(if $(KINETICS),--kinetics $(KINETICS)) $(if $(VIDEOS),--videos)

# TeX, pandoc, poppler, unar: installed with apt-get when possible, else the command is printed.
system-deps:
	@bash scripts/system-deps.sh

report: $(STAMP) system-deps
	$(if $(strip $(WORKERS)),UCF_WORKERS=$(strip $(WORKERS)) )$(PY) -m helpers report --profile $(PROFILE) $(if $(DATA),--data $(DATA)) \
		--split $(SPLIT) $(if $(SPLITS),--splits $(SPLITS)) $(if $(RUN),--run $(RUN)) \
		$(if $(PROTOCOL),--protocol $(PROTOCOL)) $(if $(GPUS),--gpus $(GPUS)) \
		$(if $(DOWNLOAD_WEIGHTS),--download-weights) $(if $(SMOKE),--smoke) \
		$(if $(WEIGHTS),--weights $(WEIGHTS)) $(if $(IMAGENET_WEIGHTS),--imagenet-weights $(IMAGENET_WEIGHTS)) \
		$(if $(NORM),--norm $(NORM)) $(if $(STORES),--stores $(STORES)) \
		$(if $(CPU),--cpu) $(if $(BATCH),--batch-size $(BATCH)) $(if $(ACCUM),--accum-steps $(ACCUM)) \
		$(if $(filter 0 no false,$(AMP)),--no-amp) $(if $(filter 0 no false,$(PDF)),--no-pdf)

# The PDF of a finished run, from its folder alone: no GPU check, data, stores or training.
pdf: $(STAMP)
	$(PY) -m helpers pdf --run $(or $(RUN),$(error give the run folder: make pdf RUN=/path/to/runs/<name>))

# Two tiers: `test` leaves out the tests marked slow (one shared end-to-end run with its PDF
# stays in); `test-all` runs everything. Both list the slowest tests, so they stay visible.
test: $(STAMP) system-deps
	$(PY) -m pytest -m "not slow" --durations=10 $(PYTEST_ARGS)

test-all: $(STAMP) system-deps
	$(PY) -m pytest --durations=25 $(PYTEST_ARGS)

test-fast: test

lint: $(STAMP)
	$(VENV)/bin/ruff check helpers tests notebooks

# The kernelspec is per user: register it again so it runs this clone's .venv.
lab: $(STAMP)
	$(PY) -m ipykernel install --user --name $(KERNEL) --display-name "UCF-101 (project .venv)" >/dev/null
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Every run folder's tensorboard/ under RUN (default runs/), live while training writes them;
# localhost on a per-user port: a shared login node exposes nothing to other users.
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir $(or $(RUN),runs) --port $(TB_PORT) --host localhost

# Needs no GPU, no data and no stores: after an array job's splits, on a login node.
summary: $(STAMP)
	$(PY) -m helpers summary --profile $(PROFILE) $(if $(strip $(PROTOCOL)),--protocol $(PROTOCOL)) \
		$(if $(strip $(RUNS)),--runs $(RUNS))

submission: $(STAMP)
	$(PY) -m helpers submission --split $(SPLIT) $(if $(PRACTICE),--practice)

clean:
	rm -rf runs figures/*.png figures/*.pdf figures/split* figures/summary report/*.pdf submission
