generated = True
