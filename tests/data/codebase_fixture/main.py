import util

print(util.add(1, 2))
