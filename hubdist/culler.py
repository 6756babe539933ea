"""``python -m hubdist.culler``, the command hub configs name: hubdist.services.culler."""

from hubdist.services.culler import main

if __name__ == "__main__":
    main()
