#!/bin/sh
# Runs the footer unit test over its corpus of MIME shapes.
exec "${top_builddir:-.}/tests/unit/footer_test" "${top_srcdir:-../..}/tests/unit/footer"
