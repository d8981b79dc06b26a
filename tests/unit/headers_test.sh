#!/bin/sh
# Runs the header-split test over the footer corpus and its own cases.
exec "${top_builddir:-.}/tests/unit/headers_test" "${top_srcdir:-../..}/tests/unit/footer"
