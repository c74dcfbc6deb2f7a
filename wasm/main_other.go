//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// main explains that this package is the browser entry and only runs as WebAssembly.
func main() {
	fmt.Fprintln(os.Stderr, "cortexcast/wasm runs in the browser: build it with GOOS=js GOARCH=wasm (make build)")
	os.Exit(2)
}
