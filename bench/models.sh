# Sourced by the benchmark scripts: the four reference models' spec files, and the CPU a figure comes from.

# A model's short name (pool, stride, resnet, mobile) to its spec's name under specs/.
spec_of() { case $1 in pool) echo fashion-cnn;; stride) echo fashion-strided;; resnet) echo fashion-resnet;; mobile) echo fashion-mobile;; esac; }

# lscpu's model name, and the family and model that tell apart CPUs named alike ("AMD EPYC": Zen 1 is family 23, Zen 4 25, Zen 5 26).
cpu_name() { echo "$(lscpu | sed -n 's/^Model name: *//p' | head -1) (family $(lscpu | sed -n 's/^CPU family: *//p' | head -1), model $(lscpu | sed -n 's/^Model: *//p' | head -1))"; }
