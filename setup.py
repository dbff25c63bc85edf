from setuptools import find_packages
from setuptools import setup

setup(
    name="tf_wsoftmax",
    version="0.1.0",
    description="W-Softmax (weights-biased softmax) and discriminative losses for Keras 3 (TensorFlow and JAX)",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_wsoftmax", "tf_wsoftmax.*"]),
    py_modules=["tf_wsoftmax_cli"],  # the console entry point, outside the package (quiet start-up)
    python_requires=">=3.10",
    # The library's maths (ops, layers, losses, MarginClassifier, distribution) needs Keras alone:
    # `pip install ".[jax]"` installs no TensorFlow. TensorFlow's parts (TrainStep, the loop, tf.data,
    # export) and the command line need the "tensorflow" / "app" extras.
    install_requires=[
        "keras>=3.3,<4",
        "numpy>=1.26",
    ],
    extras_require={
        "tensorflow": ["tensorflow>=2.16,<2.22", "tensorboard>=2.16"],
        "app": [
            "tensorflow>=2.16,<2.22", "tensorboard>=2.16", "scikit-learn>=1.3", "scipy>=1.10", "tqdm>=4.65", "matplotlib>=3.7",
        ],
        "data": ["tensorflow-datasets>=4.9,<5", "importlib_resources>=6.0"],
        "cv": ["keras-cv>=0.9,<1.0"],
        "faces": ["mtcnn>=1.0,<2", "scikit-image>=0.22", "Pillow>=10"],
        "serving": ["tensorflow-serving-api>=2.16,<3"],
        "plots": ["matplotlib>=3.7"],
        "jax": ["jax>=0.4.30"],
        "test": ["pytest>=8.0", "pytest-xdist>=3.5"],
        "all": [
            "tensorflow>=2.16,<2.22",
            "tensorboard>=2.16",
            "scikit-learn>=1.3",
            "scipy>=1.10",
            "tqdm>=4.65",
            "jax>=0.4.30",
            "tensorflow-datasets>=4.9,<5",
            "importlib_resources>=6.0",
            "keras-cv>=0.9,<1.0",
            "mtcnn>=1.0,<2",
            "scikit-image>=0.22",
            "Pillow>=10",
            "tensorflow-serving-api>=2.16,<3",
            "matplotlib>=3.7",
            "pytest>=8.0",
            "pytest-xdist>=3.5",
        ],
    },
    entry_points={"console_scripts": ["tf-wsoftmax=tf_wsoftmax_cli:main"]},
)
