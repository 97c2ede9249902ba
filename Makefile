# Thin convenience wrapper over run.sh (CMake + ctest) for developers who have make.
.PHONY: demo test build clean format
demo test build:
	./run.sh $@
clean:
	rm -rf build
format:
	clang-format -i $$(git ls-files '*.c' '*.h')
