// babel-jest transforms the ES-module JavaScript of JupyterLab and Lumino for the unit layer.
module.exports = require('@jupyterlab/testing/lib/babel-config');
