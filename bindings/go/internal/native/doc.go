// Package native is the SWIG-generated layer under package mola (swig -go -cgo
// over bindings/mola.i, written here by CMake). Use package mola instead: this
// layer panics on misuse and needs every object deleted by hand.
package native
