# The two commands of the README. Both install dependencies first (idempotent).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: run run-headless test deps build clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/app/chat/hlwq-chat

# Same app without a display (screenshots, remote machines): offscreen platform.
run-headless: build
	QT_QPA_PLATFORM=offscreen $(BUILD)/app/chat/hlwq-chat --self-test

test: build
	cd $(BUILD) && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j $(JOBS) --timeout 900

clean:
	rm -rf $(BUILD)
