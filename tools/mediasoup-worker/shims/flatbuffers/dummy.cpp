// empty: link_whole placeholder
