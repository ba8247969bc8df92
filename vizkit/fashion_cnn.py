"""fashion-cnn: the small AlexNet-like network that vizkit trains on Fashion-MNIST and bundles."""

from torch import nn

MEAN, STD = (0.2860,), (0.3530,)  # Fashion-MNIST training-set pixel mean and std


class FashionCNN(nn.Module):
    """(N, 1, 28, 28) normalised images -> (N, 10) logits; three conv blocks, three FC layers."""

    def __init__(self, width: int = 32, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 5, padding=2), nn.ReLU(),          # conv1: 28x28, 5x5 filters
            nn.MaxPool2d(2),                                    # pool1: 14x14
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),      # conv2: 14x14
            nn.MaxPool2d(2),                                    # pool2: 7x7
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(),  # conv3: 7x7
            nn.MaxPool2d(2),                                    # pool3: 3x3
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout), nn.Linear(4 * w * 3 * 3, hidden), nn.ReLU(),  # fc4
            nn.Dropout(dropout), nn.Linear(hidden, hidden // 2), nn.ReLU(),    # fc5
            nn.Linear(hidden // 2, 10),                                        # fc6: logits
        )

    def forward(self, x):
        return self.classifier(self.features(x))
