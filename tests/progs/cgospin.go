// A cgo program with thousands of goroutines doing CPU work: goroutine
// stacks are small and unguarded, so a foreign SIGPROF handler must run on
// the alternate signal stack (SA_ONSTACK) or the program dies.
package main

/*
static unsigned long c_mix(unsigned long x, int n)
{
    for (int i = 0; i < n; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

//go:noinline
func goSpin(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

//go:noinline
func worker(id int, deadline time.Time, out *uint64) {
	x := uint64(id) + 1
	for rounds := 0; ; rounds++ {
		x = goSpin(x, 2000)
		x = uint64(C.c_mix(C.ulong(x), 500))
		if rounds%64 == 0 && time.Now().After(deadline) {
			break
		}
	}
	*out = x
}

func main() {
	n, secs := 4000, 2.0
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		secs, _ = strconv.ParseFloat(os.Args[2], 64)
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	res := make([]uint64, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			worker(i, deadline, &res[i])
		}(i)
	}
	wg.Wait()
	fmt.Printf("goroutines %d done\n", n)
}
