// Package web is the seller service's HTTP face: the route table
// (routes.go), the middleware every request passes through, and the
// handlers, which decode a request, call one domain function and render.
//
// It holds no business rules of its own; those live in the domain packages
// that handlers call.
package web
