// A cgo program with thousands of goroutines, for the compatibility suite:
// every goroutine alternates Go work and calls into C, so SIGPROF lands on
// small goroutine stacks, on the system stack and inside C code.
package main

/*
#include <stdint.h>
static uint64_t c_mix(uint64_t x, int rounds) {
	for (int i = 0; i < rounds; i++) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;
		x ^= x >> 29;
	}
	return x;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

//go:noinline
func goMix(x uint64, rounds int) uint64 {
	for i := 0; i < rounds; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 31
	}
	return x
}

// worker recurses a little so that stacks grow and move while sampled.
func worker(id int, depth int, steps int) uint64 {
	if depth > 0 {
		return worker(id, depth-1, steps) + uint64(depth)
	}
	x := uint64(id)
	for s := 0; s < steps; s++ {
		x = goMix(x, 400)
		x = uint64(C.c_mix(C.uint64_t(x), 400))
	}
	return x
}

func main() {
	n, steps := 4000, 120
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[1])
		steps, _ = strconv.Atoi(os.Args[2])
	}
	results := make(chan uint64, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			results <- worker(id, id%32, steps)
		}(i)
	}
	go func() { wg.Wait(); close(results) }()
	var sum uint64
	count := 0
	for r := range results {
		sum += r
		count++
	}
	fmt.Printf("goroutines %d sum %016x\n", count, sum)
}
