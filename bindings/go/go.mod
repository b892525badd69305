module mola.dev/mola

go 1.19
