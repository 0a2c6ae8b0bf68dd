module configbench

go 1.19
