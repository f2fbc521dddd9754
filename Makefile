# moec entry points. Each target first installs what the project needs
# (scripts/install-deps.sh skips what is already there), then builds.
#
#   make demo    set up, build and run the main job on the CPU default
#   make check   set up, build and run every test
#   make docs    regenerate docs/ from the ODS

BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all deps build check demo docs clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

check: build
	cmake --build $(BUILD) --target check-moe check-docs

demo: build
	@bash scripts/demo.sh $(BUILD)

docs: build
	cmake --build $(BUILD) --target moe-docs

clean:
	rm -rf $(BUILD)
