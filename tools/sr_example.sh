#!/usr/bin/env bash
# The embedded super-resolution example: natural images from Debian's python3-skimage package
# (its data folder, fetched with `apt-get download` and unpacked locally — nothing installed),
# cut into 192 px crops with MATLAB-bicubic x4 LR images in DIV2K's layout, a short CATANet
# (our small variant) training run, then the benchmark table with the bicubic baseline.
#
#   tools/sr_example.sh [WORK_DIR] [EPOCHS]        (defaults: build/sr_example, 15)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-build/sr_example}
epochs=${2:-15}
mkdir -p "$work"
work=$(cd "$work" && pwd)
data_dir="$work/skimage/usr/lib/python3/dist-packages/skimage/data"
if [[ ! -d $data_dir ]]; then
  (cd "$work" && apt-get download python3-skimage >/dev/null 2>&1) ||
    { echo "sr_example: cannot download python3-skimage (apt-get download)" >&2; exit 1; }
  dpkg-deb -x "$work"/python3-skimage_*.deb "$work/skimage"
fi
rm -rf "$work/pairs"
build/vitrine-make-sr-folder --from "$data_dir" --out "$work/pairs" --train 40 --valid 8 \
  --size 192 --scale 4 2>/dev/null
cd "$work"
"$OLDPWD/build/vitrine" train model=catanet_nano data=div2k task=super_resolution \
  data.root="$work/pairs" data.lr_patch=24 data.repeat=20 data.batch_size=16 \
  trainer.epochs="$epochs" optim.lr=2e-3 optim.weight_decay=0 sched.warmup_epochs=1 \
  task.bicubic_baseline=true hydra.run.dir="$work/run" | tail -n 3
"$OLDPWD/build/vitrine" eval checkpoint="$work/run/last.pt" model=catanet_nano data=div2k \
  task=super_resolution data.root="$work/pairs" task.bicubic_baseline=true \
  --save-images "$work/sr" --results-file "$work/table.csv"
