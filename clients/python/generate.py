"""Generates the gRPC stubs of the job service from proto/proto/service.proto into
bulk_import_client/_generated, with imports made relative to the package. With --check, fails if
the committed stubs differ from what generation gives (run by the tests, so they stay current)."""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto", "proto")
OUT = os.path.join(HERE, "bulk_import_client", "_generated")
FILES = ["service_pb2.py", "service_pb2_grpc.py", "service_pb2.pyi"]


def generate(out):
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", PROTO_DIR, f"--python_out={out}", f"--pyi_out={out}",
                    f"--grpc_python_out={out}", "service.proto"], check=True)
    path = os.path.join(out, "service_pb2_grpc.py")
    text = open(path).read().replace("import service_pb2 as service__pb2", "from . import service_pb2 as service__pb2")
    open(path, "w").write(text)


def main():
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as fresh:
            generate(fresh)
            stale = [f for f in FILES if open(os.path.join(fresh, f)).read() != open(os.path.join(OUT, f)).read()]
        if stale:
            sys.exit(f"stale generated stubs: {', '.join(stale)}; run python clients/python/generate.py")
        print("generated stubs are current")
    else:
        generate(OUT)


if __name__ == "__main__":
    main()
