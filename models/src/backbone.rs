//! What an image backbone hands back: the pooled feature vector and, when it has a classifier
//! head, the logits.

use candle_core::Tensor;

/// One forward pass of a backbone over a batch of images.
#[derive(Debug, Clone)]
pub struct BackboneOutput {
    /// Pooled features, `(batch, feature_dim)`: what timm's `forward_head(x, pre_logits=True)`
    /// returns, the input of the classifier.
    pub features: Tensor,
    /// Classifier scores, `(batch, num_classes)`; `None` when the backbone was loaded without a
    /// head.
    pub logits: Option<Tensor>,
}
