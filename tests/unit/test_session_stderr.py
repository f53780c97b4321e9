"""The driver JVM's stderr filter: its own start-up warning dropped, real errors kept."""

from __future__ import annotations

import io

from tailguard.session import JVM_NOISE, forward_lines


def test_incubator_warning_is_dropped_and_other_lines_pass_in_order():
    source = io.BytesIO(b"WARNING: Using incubator modules: jdk.incubator.vector\n"
                        b"Exception in thread main: boom\n"
                        b"\tat Foo.bar\n"
                        b"no newline at end")
    sink = io.BytesIO()
    forward_lines(source, sink)
    assert sink.getvalue() == (b"Exception in thread main: boom\n\tat Foo.bar\n"
                               b"no newline at end")
    assert JVM_NOISE[0].startswith(b"WARNING")


class _BrokenSink(io.BytesIO):
    def write(self, data):
        raise OSError("stderr closed")


def test_a_failing_sink_does_not_stop_the_reader_so_the_jvm_never_blocks():
    source = io.BytesIO(b"line 1\n" * 1000)
    forward_lines(source, _BrokenSink())
    assert source.read() == b""  # everything consumed
