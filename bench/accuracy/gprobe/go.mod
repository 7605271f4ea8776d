module portwise.bench/gprobe

go 1.19
