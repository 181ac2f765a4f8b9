"""News at run time: the sources the settings name (:mod:`workstation.news.sources`), each
item scored and resolved to the symbols it concerns before it is stored
(:mod:`workstation.news.scoring`), and the poller the runtime and ``qws news fetch`` run
(:mod:`workstation.news.poller`), which also raises the sentiment-swing alert."""
