// Datasets by the `data` config node: `format` picks the on-disk layout.
//   idx          root/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (Fashion-MNIST, MNIST)
//   image_folder root/<train_split|val_split>/<class>/<image> (ImageNet layout)
//   file_list    root/<image paths> listed in train_list / val_list ("path label" lines)
#pragma once

#include "config/view.h"
#include "data/dataset.h"

namespace vitrine::data {

// The training (`train` = true) or evaluation split. Throws ConfigError for a bad config and
// DataError (with a fix, e.g. the Debian package to install) for missing data.
DatasetPtr make_dataset(const config::ConfigView& data, bool train);

}  // namespace vitrine::data
