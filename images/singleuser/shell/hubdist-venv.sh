# The shared Python environment first on PATH in login shells too. JupyterLab's terminals
# run `bash -l`, and Debian's /etc/profile sets PATH anew, which left the terminal without
# the image's python, pip and jupyter (and a pip install in it going nowhere).
case ":$PATH:" in
    *:/opt/jupyter/bin:*) ;;
    *) PATH=/opt/jupyter/bin:$PATH; export PATH ;;
esac
