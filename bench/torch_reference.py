# The PyTorch reference (shared/bench/torch_seed_cnn.py: its data, training loop, Keras's Adam and figures) run on another
# model, for bench/torch_convnext.py and bench/torch_mobilenet_v3.py: run(Model) takes the place of that script's GraphCNN
# (built as Model(variant), with forward and predict) and accepts any --model name.
import os, sys, runpy, argparse

def run(model):
    seed_script = os.path.join(os.environ.get("SHARED_BENCH", os.path.join(os.path.dirname(__file__), "../../shared/bench")), "torch_seed_cnn.py")
    ns = runpy.run_path(seed_script, run_name="seed")
    ns["main"].__globals__["GraphCNN"] = model
    add = argparse.ArgumentParser.add_argument
    def add_argument(self, *a, **k):
        if a and a[0] == "--model": k.pop("choices", None)
        return add(self, *a, **k)
    argparse.ArgumentParser.add_argument = add_argument
    sys.argv[0] = seed_script
    ns["main"]()
