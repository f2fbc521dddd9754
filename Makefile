# moec entry points. Each target first installs what the project needs
# (scripts/install-deps.sh skips what is already there), then builds.
#
#   make demo            set up, build and run the main job on the CPU default
#   make check           set up, build and run every test: check-release,
#                        check-install, check-python, check-sanitize and
#                        fuzz (what .ci/run calls)
#   make check-release   the lit and unit tests on the release build (build/)
#   make check-install   install build/ into a fresh prefix and build and run
#                        examples/cpp (find_package) and examples/c
#                        (pkg-config) against it
#   make check-python    pip install ./python against a fresh prefix and run
#                        examples/python and python/tests
#   make check-sanitize  the same tests built with ASan + UBSan (build-asan/)
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (build-fuzz/)
#   make docs            regenerate docs/ from the ODS

BUILD ?= build
SAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=
SANITIZERS = address,undefined

.PHONY: all deps build check check-release check-install check-python check-sanitize fuzz demo docs clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD)

check: check-release check-install check-python check-sanitize fuzz

check-release: build
	cmake --build $(BUILD) --target check-moe check-docs

check-install: build
	bash scripts/check-install.sh $(BUILD)

check-python: build
	bash scripts/check-python.sh $(BUILD)

$(SAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(SAN_BUILD) -G Ninja -DMOEC_SANITIZE=$(SANITIZERS) $(CMAKE_FLAGS)

check-sanitize: deps $(SAN_BUILD)/build.ninja
	cmake --build $(SAN_BUILD) --target check-moe

$(FUZZ_BUILD)/build.ninja: | deps
	CC=clang-22 CXX=clang++-22 cmake -S . -B $(FUZZ_BUILD) -G Ninja \
	  -DMOEC_SANITIZE=$(SANITIZERS) -DMOEC_FUZZERS=ON $(CMAKE_FLAGS)

fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) --target moe-fuzzers
	bash scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The demo builds the four tools it runs, not the tests.
DEMO_TOOLS = moe-translate moe-opt moe-compile moe-run

demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) --target $(DEMO_TOOLS)
	@bash scripts/demo.sh $(BUILD)

docs: build
	cmake --build $(BUILD) --target moe-docs

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
