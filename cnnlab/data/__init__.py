"""The lab's images: a data set (synthetic or a folder of files) prepared once into arrays.

``synthetic`` draws the built-in skin-lesion images; ``image_file`` decodes one image file;
``images`` loads a folder in the course's layout; ``prepare`` writes arrays.npz and its
manifest; ``arrays`` reads them back. It may import ``plan`` (the config's data keys) and
``store``; never TensorFlow, the training or the report wing.
"""
