// go.mod: the module of mola's Go binding (package mola at its root, the
// generated layer in internal/native); no requirements.
module mola.dev/mola

go 1.19
