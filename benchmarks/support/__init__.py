"""What the benchmarks share with the tests that check it: `synthetic`, the filler of realistic traces."""
